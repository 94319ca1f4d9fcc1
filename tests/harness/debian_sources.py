"""Print a deb822 sources file for another Debian suite, derived from this machine's own.

Used by tests/run to fetch newer releases' packages (trixie's docker.io; sid's
docker.io and containerd) through a private apt configuration. The mirror, components and keyring are whatever the machine's
bookworm entry has: the harness never names an archive host itself, so it
follows the machine onto any mirror or proxy it is set up for.

Only the stanza(s) carrying the plain `bookworm` suite are used, renamed to
SUITE: the packages come from the suite itself, so -updates and -security
would only cost index downloads (and sid has neither). deb-src is dropped for
the same reason.

Standard library only. Usage: debian_sources.py SUITE [SOURCES_FILE]
(default /etc/apt/sources.list.d/debian.sources). Exit status 1 when the file
has no usable bookworm stanza, 2 on a bad command line.
"""
import sys

FROM_SUITE = "bookworm"


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


def derive(text, to_suite):
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
                value = to_suite
            lines.append(f"{field}: {value}")
        out.append("\n".join(lines))
    return "\n\n".join(out) + "\n" if out else ""


def main(argv):
    if len(argv) not in (2, 3) or not argv[1] or argv[1].startswith("-"):
        print("usage: debian_sources.py SUITE [SOURCES_FILE]", file=sys.stderr)
        return 2
    path = argv[2] if len(argv) > 2 else "/etc/apt/sources.list.d/debian.sources"
    with open(path) as f:
        result = derive(f.read(), argv[1])
    if not result:
        print(f"debian_sources: no enabled 'deb' stanza with suite {FROM_SUITE} in {path}",
              file=sys.stderr)
        return 1
    sys.stdout.write(result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
