"""Lists one page at a time, counted and cut in SQL (COUNT, then LIMIT/OFFSET).

A service that lists takes ``page`` and ``page_size`` and returns a ``Page``; the API
passes flask-smorest's pagination parameters (``page``, ``page_size``, answered with
the ``X-Pagination`` header), the command line its ``--page`` and ``--page-size``.
``page=None`` means every row, for reports printed whole.
"""

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class Page:
    items: list[Any]
    total: int
    page: int | None = None
    page_size: int | None = None

    @property
    def pages(self) -> int:
        if not self.page_size:
            return 1
        return max(1, -(-self.total // self.page_size))


def page_of(
    session: Session,
    query: sa.Select,
    page: int | None,
    page_size: int | None,
    *,
    scalars: bool = False,
) -> Page:
    """The rows of ``query`` (ordered by the caller) on ``page``, with the count of all
    of them. Two statements however long the page, and the rows as ``query`` gives them
    (the caller loads what the rows refer to in bulk)."""
    run = session.scalars if scalars else session.execute
    if page is None:
        items = list(run(query))
        return Page(items, len(items))
    total = session.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery()))
    total, offset = total or 0, (page - 1) * page_size
    # A page past the end is empty without asking (and a page number too large for the
    # database's integers never reaches it).
    items = list(run(query.limit(page_size).offset(offset))) if offset < total else []
    return Page(items, total, page, page_size)


def paginate(blp):
    """``@paginate(blp)`` on a list view: ``page`` (from 1) and ``page_size`` (default
    50, at most 500) from the query string, the view sets ``item_count``."""
    return blp.paginate(page=1, page_size=PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)


def respond(pagination_parameters, page: Page) -> list:
    """The page's items for a paginated view, with the total for ``X-Pagination``."""
    pagination_parameters.item_count = page.total
    return page.items
