"""The CLI's logging: our INFO lines shown, third-party INFO lines not, warnings logged, and all of it written
above a running progress bar rather than into it."""

from __future__ import annotations

import logging
import warnings

from tqdm import tqdm

from defmo.cli import setup_logging


def test_our_info_third_party_warnings_and_python_warnings(tmp_path, capsys):
    # an earlier run in this process, after which a warnings.catch_warnings() block (pytest's, around each test)
    # put the original showwarning back without the logging module knowing
    original = warnings.showwarning
    setup_logging(None, verbose=False)
    warnings.showwarning = original
    log_file = tmp_path / "run.log"
    with warnings.catch_warnings():  # a warning shown every time, whatever filters the test runner set
        warnings.simplefilter("always")
        setup_logging(str(log_file), verbose=False)
        try:
            with tqdm(total=3, desc="work") as bar:
                logging.getLogger("defmo.train.cli").info("step %d done", 1)
                logging.getLogger("matplotlib.font_manager").info("font cache rebuilt")  # a third party's INFO
                logging.getLogger("snakemake").warning("a third party's warning")
                warnings.warn("something deprecated", UserWarning)
                bar.update(1)
        finally:
            logging.captureWarnings(False)
    text = log_file.read_text()
    assert "defmo.train.cli: step 1 done" in text
    assert "font cache rebuilt" not in text and "a third party's warning" in text
    assert "something deprecated" in text  # through logging, so also above the bar
    err = capsys.readouterr().err
    assert "step 1 done" in err and "font cache rebuilt" not in err
