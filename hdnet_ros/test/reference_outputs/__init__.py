"""The message builders as they were before perf8 (main at 30ee9d3): kept only as the
reference ``test_outputs_reference`` holds the cheaper builders to (the same serialised
bytes). A change of what a message holds changes this copy in the same commit, with the
reason."""
