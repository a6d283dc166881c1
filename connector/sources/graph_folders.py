"""Folder paths (`Parent/Child`, as every source writes them) to Microsoft Graph folder ids.

Graph addresses folders by id, not by path. The first level may be a well-known name
(`inbox`, `archive`, ... from "mailFolder resource type"), which works whatever language the
mailbox is in, so `INBOX/Support` means the same on a German mailbox whose inbox is shown as
"Posteingang". Every other level is a display name, compared case-insensitively as Exchange
compares them.
"""

from __future__ import annotations

import logging

from connector import logs
from connector.sources.config import SourceConfig
from connector.sources.errors import FolderNotFound, SourceConfigError, SourceError
from connector.sources.graph_http import GraphClient, GraphNotFound

log = logging.getLogger(__name__)

WELL_KNOWN_FOLDERS = frozenset(
    {
        "archive",
        "clutter",
        "conflicts",
        "conversationhistory",
        "deleteditems",
        "drafts",
        "inbox",
        "junkemail",
        "localfailures",
        "msgfolderroot",
        "outbox",
        "recoverableitemsdeletions",
        "scheduled",
        "searchfolders",
        "sentitems",
        "serverfailures",
        "syncissues",
    }
)
# 404 codes that mean the mailbox, not a folder or message, is unknown to Graph.
_MAILBOX_MISSING = frozenset(
    {
        "ErrorInvalidUser",
        "MailboxNotEnabledForRESTAPI",
        "MailboxNotSupportedForRESTAPI",
        "ResourceNotFound",
    }
)
_LIST = {"$select": "id,displayName,childFolderCount", "$top": "100"}


class GraphFolders:
    """Resolves and remembers folder ids for one session (ids survive renames; paths not)."""

    def __init__(self, graph: GraphClient, config: SourceConfig) -> None:
        self._graph = graph
        self._config = config
        self._ids: dict[str, str] = {}

    def folder_id(self, path: str, *, create: bool = False) -> str:
        """The folder's id; with `create`, missing levels are made (as IMAP's TRYCREATE)."""
        key = path.casefold()
        if key in self._ids:
            return self._ids[key]
        graph = self._graph
        names = path.split("/")
        parent: str | None = None
        if names[0].lower() in WELL_KNOWN_FOLDERS:
            url = graph.url("mailFolders", names[0].lower())
            try:
                parent = str(graph.get_json(url, "find folder", {"$select": "id"})["id"])
            except GraphNotFound as exc:
                raise self.not_found(path, exc) from exc
            names = names[1:]
        for name in names:
            children = (
                graph.url("mailFolders", parent, "childFolders")
                if parent
                else graph.url("mailFolders")  # the top level: children of the root folder
            )
            child = self._child(children, name, path)
            if child is None and create:
                child = self._create(children, name)
            if child is None:
                raise FolderNotFound(path, f"no folder named {name!r} there")
            parent = child
        assert parent is not None
        self._ids[key] = parent
        return parent

    def list_folders(self) -> list[str]:
        """Every folder as a `Parent/Child` path, e.g. for a diagnosis to offer."""
        found: list[str] = []
        pending: list[tuple[str, str]] = [("", self._graph.url("mailFolders"))]
        while pending:
            prefix, url = pending.pop()
            for page in self._graph.pages(self._graph.get_json(url, "list folders", _LIST)):
                for folder in page.get("value") or []:
                    path = f"{prefix}{folder.get('displayName', '')}"
                    found.append(path)
                    if folder.get("childFolderCount"):
                        children = self._graph.url("mailFolders", str(folder["id"]), "childFolders")
                        pending.append((path + "/", children))
        return sorted(found)

    def not_found(self, path: str, exc: GraphNotFound) -> SourceError:
        if exc.code in _MAILBOX_MISSING:
            field = "mailbox" if self._config.mailbox else "username"
            return SourceConfigError(field, f"Microsoft Graph has no such mailbox: {exc.message}")
        return FolderNotFound(path, exc.message)

    def _child(self, url: str, name: str, path: str) -> str | None:
        try:
            first = self._graph.get_json(url, "list folders", _LIST)
        except GraphNotFound as exc:
            raise self.not_found(path, exc) from exc
        for page in self._graph.pages(first):
            for folder in page.get("value") or []:
                if str(folder.get("displayName", "")).casefold() == name.casefold():
                    return str(folder["id"])
        return None

    def _create(self, url: str, name: str) -> str:
        response = self._graph.request("POST", url, "create folder", body={"displayName": name})
        logs.event(log, "source.folder_created", source=self._config.label)
        return str(response.json()["id"])
