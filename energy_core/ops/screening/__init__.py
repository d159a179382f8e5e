"""Screening and imputation of hourly demand after Ruggles et al. (2020): the rules, the imputation, and
running both over the processed store (``energy quality --screen``). See docs/screening.md."""

from energy_core.ops.screening.imputation import METHOD, impute
from energy_core.ops.screening.rules import FLAGS, PAPER, Category, ScreeningConfig, screen
from energy_core.ops.screening.store import CHECK, SCREENED, Screening, imputed_series, save_imputed, screen_store

__all__ = ["CHECK", "FLAGS", "METHOD", "PAPER", "SCREENED", "Category", "Screening", "ScreeningConfig", "impute",
           "imputed_series", "save_imputed", "screen", "screen_store"]
