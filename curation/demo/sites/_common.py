"""What every demo site shares."""

EXPOSURE_YN = (
    "secondhand_smoke",
    "asbestos",
    "radon",
    "silica",
    "diesel",
    "cooking_fumes",
    "family_history_lung_cancer",
)
