"""Developer tools: timing the pipeline (`au-annotator bench`) and a synthetic AU dataset."""
