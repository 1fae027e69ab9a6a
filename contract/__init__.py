"""What the API and the model runners share, on the ground floor and without PyTorch: runner
jobs and results, parameter bounds, languages, the model family table, output formats, the
voice storage layout, paging, metric names. Every other package may import it; it imports
none of them."""
