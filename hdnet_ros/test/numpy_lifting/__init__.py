"""The depth stage's sampling and measurement as numpy code: the implementation before the
compiled kernel (main at bd03366, ``stages/depth/{sample,windows,torso,measure,occlusion,
geometry}.py``), kept only as the reference ``test_depth_kernel`` holds the kernel to (the
same results within 1e-9 m). Its arithmetic is the specification: a change of the kernel's
behaviour changes this copy in the same commit, with the reason."""
