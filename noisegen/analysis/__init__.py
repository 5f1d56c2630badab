"""Noise statistics and camera calibration: NLF and residual statistics (nlf), their exact model
(model_stats) and fit (fit), statistics of datasets and real pairs (stats, table, plot), camera
calibration against real pairs (calibrate, calibrate_search, calibrate_report) and contact sheets
(preview). Importing this package file imports nothing.
"""
