"""Which source fetches which of a run's regions (``--region``), settled before any request.

A region must be one that a source of the run knows (:meth:`Source.known_regions`; a source that
cannot tell knows every region); each source then fetches only the regions it knows, spelled as it
spells them, and a source that knows none of them fetches nothing. So ``--source eia --source caiso
--region PACW --region CISO`` asks EIA for both BAs and CAISO for its system, while a typo that no
source knows stops the run with the closest codes before anything is fetched or stored.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Collection, Mapping, Sequence

from energy_core.errors import ConfigError

logger = logging.getLogger(__name__)

SUGGESTIONS = 3
"""At most this many close codes per source in a "did you mean"."""


def region_shares(regions: Sequence[str], known: Mapping[str, Collection[str] | None]) -> dict[str, tuple[str, ...]]:
    """Source name -> the regions of ``regions`` it fetches, given each source's known regions
    (``None``: it accepts any). Regions compare without case and come back in the source's spelling.

    Raises :class:`ConfigError` naming every region that no source knows, with the closest codes.
    No region asked for means all of each source's.
    """
    if not regions:
        return {name: () for name in known}
    spellings = {name: None if codes is None else {code.upper(): code for code in codes}
                 for name, codes in known.items()}
    asked = list(dict.fromkeys(regions))
    unknown = [r for r in asked if not any(s is None or r.upper() in s for s in spellings.values())]
    if unknown:
        raise ConfigError(_refusal(unknown, spellings))
    shares = {name: tuple(dict.fromkeys(r if s is None else s[r.upper()] for r in asked if s is None or r.upper() in s))
              for name, s in spellings.items()}
    for name, share in shares.items():
        if not share:
            logger.warning("%s: none of the regions asked for (%s) is one of its own; it fetches nothing this run",
                           name, ", ".join(asked))
        elif len(share) < len(asked):
            logger.info("%s: fetches %s; the other regions asked for are not its own", name, ", ".join(share))
    return shares


def _refusal(unknown: list[str], spellings: Mapping[str, Mapping[str, str] | None]) -> str:
    """The error for regions no source knows: per region the closest codes (and, with several
    sources, whose they are), then every source's codes, so that it says what to type."""
    several = len(spellings) > 1
    items = []
    for region in unknown:
        close = {name: [s[match] for match in difflib.get_close_matches(region.upper(), list(s), n=SUGGESTIONS)]
                 for name, s in spellings.items() if s is not None}
        hint = " or ".join(f"{name}'s {', '.join(codes)}" if several else ", ".join(codes)
                           for name, codes in close.items() if codes)
        items.append(f"{region!r}" + (f" (did you mean {hint}?)" if hint else ""))
    what = f"region{'s' if len(unknown) > 1 else ''} {', '.join(items)}"
    lists = "; ".join(f"{name} knows {', '.join(sorted(s.values()))}" for name, s in spellings.items() if s is not None)
    if several:
        return (f"no source of this run ({', '.join(spellings)}) knows {what}. Each source fetches the regions it "
                f"knows, and every region must be known to one of them: {lists}. Nothing was fetched or stored.")
    return f"{next(iter(spellings))}: unknown {what}. {lists}. Nothing was fetched or stored."
