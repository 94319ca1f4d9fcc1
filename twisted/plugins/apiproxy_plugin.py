"""`twist apiproxy`: apiproxy run by Twisted's own runner, with the `apiproxy` command's options.

Twisted finds this module in any `twisted/plugins` folder on sys.path (no
`__init__.py` here: that would hide Twisted's own plugins). It imports
apiproxy only when used, since `twist` imports every plugin it lists.
"""
from __future__ import annotations

import argparse
from typing import Any, NoReturn

from twisted.application.service import IService, IServiceMaker
from twisted.plugin import IPlugin
from twisted.python import usage
from zope.interface import implementer


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise usage.UsageError(message)  # twist prints it with the usage below and exits 64


def _parser() -> argparse.ArgumentParser:
    from apiproxy import cli

    return cli.with_run_options(_Parser(prog="twist apiproxy", description=cli.DESCRIPTION, epilog=cli.EPILOG))


class Options(usage.Options):
    """The `apiproxy` command's own options, read by its own parser and configuration (apiproxy.cli)."""

    def parseOptions(self, options: list[str] | None = None) -> None:
        from apiproxy import cli
        from apiproxy.ops.config import ConfigError

        try:
            self.config, self.reload = cli.configure(_parser().parse_args(options or []))
        except ConfigError as error:
            cli.print_problems(error)  # the same lines and status as `apiproxy`
            raise SystemExit(1) from None
        self._log_beside_twist()

    def _log_beside_twist(self) -> None:
        from apiproxy.shell.logs import start_logging_beside_twist

        runner: Any = self.parent
        # twist's options hold the factory of its log observer; under another runner (twistd)
        # apiproxy's lines go to that runner's log with the rest.
        if runner is None or "fileLogObserverFactory" not in runner:
            return
        try:
            runner["fileLogObserverFactory"] = start_logging_beside_twist(self.config.log,
                                                                          runner["fileLogObserverFactory"])
        except OSError as error:
            raise SystemExit(f"cannot open the access log: {error}") from None

    def getUsage(self, width: int | None = None) -> str:
        return _parser().format_help()


@implementer(IServiceMaker, IPlugin)
class ApiproxyServiceMaker:
    tapname = "apiproxy"
    description = "A socket for Docker API v1.0-v1.9 clients in front of today's daemon."
    options = Options

    def makeService(self, options: Options) -> IService:
        from twisted.internet import reactor

        from apiproxy.shell.service import StartOrExit

        return StartOrExit(reactor, options.config, options.reload)


apiproxy = ApiproxyServiceMaker()
