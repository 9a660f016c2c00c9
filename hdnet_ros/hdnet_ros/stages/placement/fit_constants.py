"""The placement fit's constants: which points it fits, the sigmas of its terms and its
bounds (fit.py's module doc explains the model they belong to). A module of their own so
that the compiled fit (fit_kernel.py) and its Python side (fit.py) read the same values;
fit.py re-exports them.
"""

from __future__ import annotations

from hdnet_ros.joints import (
    LEFT_ANKLE,
    LEFT_HIP,
    LEFT_KNEE,
    LEFT_SHOULDER,
    NUM_COCO_JOINTS,
    RIGHT_ANKLE,
    RIGHT_HIP,
    RIGHT_KNEE,
    RIGHT_SHOULDER,
)

# The fit's points: the 17 COCO joints, then the feet (left heel, right heel, left toes,
# right toes), all pelvis-relative; torso, legs and feet are used, the face (small against
# the skeleton's scale) and the hands (the least certain 3D points) are not.
NUM_POINTS = NUM_COCO_JOINTS + 4
TORSO = (LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP)
LIMBS = (LEFT_KNEE, RIGHT_KNEE, LEFT_ANKLE, RIGHT_ANKLE, 17, 18, 19, 20)
FIT_POINTS = TORSO + LIMBS
# 1-sigma of the network's skeleton points against the truth, root-relative: BlazePose's
# joint error on real frames is 104-282 mm (median ~160 mm over all joints, hands included;
# blazepose_ghum_full SOURCE.md); the rigid torso is the best of it, the limbs the worst
# that the fit uses.
SHAPE_SIGMA_TORSO_M = 0.05
SHAPE_SIGMA_LIMB_M = 0.10
# Ankle joint centre height: 0.039 x stature (Drillis & Contini), for a 1.70 m adult, plus
# a shoe sole (~2.5 cm); its spread over adults and shoes.
ANKLE_HEIGHT_M = 0.039 * 1.70 + 0.025
ANKLE_HEIGHT_SIGMA_M = 0.02
# A standing or walking pelvis: at leg length over the floor within a few cm (knees
# straight to slightly bent in gait), and over the middle of the feet within a stance and
# a lean; with one foot seen, within a stride.
HIP_HEIGHT_SIGMA_M = 0.04
OVER_FEET_SIGMA_M = 0.08
# The feet's terms take an ankle the 2D network is sure of: its rays pin the person where
# they meet the floor, so a guessed ankle (hidden behind a nearer person, its legs drawn
# onto theirs) moves them by metres. At PP-TinyPose's calibrated 0.25 a joint is right as
# often as wrong; the crowd stage halves the score of a joint it finds hidden behind another
# person. Measured on Panoptic (camera pose known): a standing man whose legs a nearer
# person hid (ankle scores 0.35-0.42, 70-120 px off) was placed 0.27 m too near with them.
FEET_MIN_SCORE = 0.5
OVER_ONE_FOOT_SIGMA_M = 0.20
# Chi-square bounds (99.7 %) for 1 and 3 degrees of freedom: the floor fit must agree
# with the free fit this well.
CHI2_BOUND = {1: 8.81, 2: 11.6, 3: 14.2}
# The floor offset of a floor known only by its up direction is free: a prior this wide.
FREE_OFFSET_SIGMA_M = 100.0
MIN_OFFSET_SIGMA_M = 1e-3  # a floor given as exact still enters as a (tight) prior
# Standing, the floor terms say where the legs are (their length, the feet under the
# pelvis): the network's leg orientation, its least certain part seen from above, then
# counts for this little.
STANDING_LIMB_SIGMA_M = 0.30
MIN_POINTS = 4
MIN_SPAN_M = 0.25
MIN_DEPTH_M = 0.1
MAX_DEPTH_M = 100.0  # a person a few pixels tall: a fit that lands beyond diverged
ITERATIONS = 8
