"""The crowd rules' joint tests as numpy code: main's ``stages/crowd/{hidden,ownership,merge}.py``
at 649e036, before the compiled kernels (``stages/crowd/kernels.py``), kept only as the
reference ``test_crowd_kernels`` holds the kernels to (the same masks, bit for bit). Its
arithmetic is the specification: a change of a rule changes this copy in the same commit."""
