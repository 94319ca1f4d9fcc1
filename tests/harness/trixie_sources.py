"""Print a deb822 sources file for Debian trixie, derived from this machine's own.

Used by tests/run to fetch trixie's docker.io through a private apt
configuration. The mirror, components and keyring are whatever the machine's
bookworm entry has: the harness never names an archive host itself, so it
follows the machine onto any mirror or proxy it is set up for.

Only the stanza(s) carrying the plain `bookworm` suite are used, renamed to
`trixie`: the package comes from the release itself, so -updates and -security
would only cost index downloads. deb-src is dropped for the same reason.

Standard library only. Usage: trixie_sources.py [SOURCES_FILE]
(default /etc/apt/sources.list.d/debian.sources). Exit status 1 when the file
has no usable bookworm stanza.
"""
import sys

FROM_SUITE, TO_SUITE = "bookworm", "trixie"


def stanzas(text):
    """deb822 paragraphs as lists of (field, value) in file order; a value keeps
    its continuation lines (multi-line Signed-By keys) verbatim."""
    paragraph = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue  # comments may sit anywhere, even inside a paragraph
        if not line.strip():
            if paragraph:
                yield paragraph
            paragraph = []
        elif line[0] in " \t" and paragraph:
            field, value = paragraph[-1]
            paragraph[-1] = (field, value + "\n" + line)
        else:
            field, _, value = line.partition(":")
            paragraph.append((field.strip(), value.strip()))
    if paragraph:
        yield paragraph


def derive(text):
    out = []
    for paragraph in stanzas(text):
        fields = {k.lower(): v for k, v in paragraph}
        if "deb" not in fields.get("types", "").split():
            continue
        if FROM_SUITE not in fields.get("suites", "").split():
            continue
        if fields.get("enabled", "yes").strip().lower() == "no":
            continue
        lines = []
        for field, value in paragraph:
            key = field.lower()
            if key == "types":
                value = "deb"
            elif key == "suites":
                value = TO_SUITE
            lines.append(f"{field}: {value}")
        out.append("\n".join(lines))
    return "\n\n".join(out) + "\n" if out else ""


def main(argv):
    path = argv[1] if len(argv) > 1 else "/etc/apt/sources.list.d/debian.sources"
    with open(path) as f:
        result = derive(f.read())
    if not result:
        print(f"trixie_sources: no enabled 'deb' stanza with suite {FROM_SUITE} in {path}",
              file=sys.stderr)
        return 1
    sys.stdout.write(result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
