"""What the tests and the benchmarks share: the processes and stacks they start, the audio they send, the settings of models built in-process, the schema fuzzer."""
