"""The tour (`triptych run`, `make run`): everything triptych does, on the bundled data,
into one self-contained report. `triptych.tour.run.run_tour` orchestrates; the typed
results it returns (`triptych.tour.results`) are what every renderer reads."""
