"""The method-validation tables (bench/method_validation.py, printed by scripts/validate_method.py): differences to Gaussian Grouping paired by scene and seed."""
from bench.method_validation import tables


def row(scene, seed, variant, psnr, band, gaussians):
    return {"scene": scene, "seed": seed, "variant": variant, "psnr": psnr, "band_test": band, "band_train": band,
            "gaussians": gaussians, "wrong_id_boundary": 0.1}


def test_variant_means_and_paired_differences_hand_computed():
    rows = [row("v3", 0, "gg", 28.0, 0.90, 1000), row("v3", 0, "full", 28.5, 0.91, 1100),
            row("v3", 1, "gg", 27.0, 0.80, 1000), row("v3", 1, "full", 27.1, 0.79, 1050),
            row("v4", 0, "full", 30.0, 0.95, 900)]      # no GG run to pair with: in the mean, not the difference
    text = tables(rows)
    assert "| v4 | 0 | full | 30.00 | 95.00 | 95.00 | 900 |" in text
    line = next(line for line in text.splitlines() if line.startswith("| full | 3 |"))
    cells = [c.strip() for c in line.split("|")[1:-1]]
    # PSNR mean (28.5 + 27.1 + 30) / 3; paired +0.5 and +0.1: mean 0.3, sd 0.2828, t(0.975, 1) 12.706
    # -> half-width 12.706 * 0.2828 / sqrt(2) = 2.54
    assert cells[2] == "28.53" and cells[3] == "+0.30 +- 2.54"
    assert cells[5] == "+0.00 +- 12.71"            # band +1 and -1 points
    assert cells[7] == "+7.5 +- 31.8"              # Gaussians +10 % and +5 %
    assert next(line for line in text.splitlines() if line.startswith("| gg | 2 |")).count("+0.00") == 3
