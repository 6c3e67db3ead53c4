"""Body proportions the measurement relies on, each with its source.

Sources:
- ANSUR II: Gordon C.C. et al. (2014), "2012 Anthropometric Survey of U.S. Army Personnel:
  Methods and Summary Statistics", Natick/TR-15/007, and its public data files
  "ANSUR II MALE Public.csv" / "ANSUR II FEMALE Public.csv". Male means in cm (the size chart
  is a men's/unisex one); female means in comments where they bound an assumption.
- Drillis R., Contini R. & Bluestein M. (1964), "Body segment parameters: a survey of
  measurement techniques", Artificial Limbs 8(1):44-66, as tabulated in Winter D.A. (2009),
  "Biomechanics and Motor Control of Human Movement", 4th ed., Fig. 4.1 (lengths as fractions
  of stature H).

Constants marked "assumption" are engineering choices, not measurements; the reason is given.
"""

from __future__ import annotations

import math

# ANSUR II male means (cm): chest breadth 28.9 / depth 25.4; waist breadth 32.6 / depth 23.8;
# hip breadth 34.6 / buttock depth 24.6. (Female: 26.9/24.7, 30.0/21.3, 35.4/23.3.)
CHEST_DEPTH_RATIO = 25.4 / 28.9  # 0.88
WAIST_DEPTH_RATIO = 23.8 / 32.6  # 0.73
HIP_DEPTH_RATIO = 24.6 / 34.6  # 0.71
#: The shoulder section is the chest's upper end; ANSUR II has no depth at the shoulder line.
SHOULDER_DEPTH_RATIO = CHEST_DEPTH_RATIO

#: Assumption: ANSUR II publishes means of breadths and depths, not of their ratio. A 10% relative
#: spread covers the male/female gap in the means (chest 0.88 vs 0.92, waist 0.73 vs 0.71,
#: hip 0.71 vs 0.66) and is carried into every girth's uncertainty.
DEPTH_RATIO_RELATIVE_SD = 0.10

#: ANSUR II male mean flexed biceps circumference 35.8 cm, as a radius: how far an arm that touches
#: the torso reaches past its own centre line (an upper bound: a relaxed arm is thinner).
ARM_RADIUS_CM = 35.8 / (2 * math.pi)

# Drillis & Contini heights above the floor as fractions of stature: shoulder (acromion) 0.818,
# chest (nipple) 0.720, elbow 0.630, hip (greater trochanter) 0.530. Measurement levels are placed
# between the detected shoulder and hip lines in the same proportion, so they follow the person's
# own torso length.
_SHOULDER_H, _CHEST_H, _ELBOW_H, _HIP_H = 0.818, 0.720, 0.630, 0.530
CHEST_LEVEL = (_SHOULDER_H - _CHEST_H) / (_SHOULDER_H - _HIP_H)  # 0.34
#: The natural waist sits at elbow height with the arms hanging (the tailor's landmark; ISO 8559-1
#: places waist girth between the lowest rib and the iliac crest, which is the same band).
WAIST_LEVEL = (_SHOULDER_H - _ELBOW_H) / (_SHOULDER_H - _HIP_H)  # 0.65
#: Hip girth is taken at the greatest buttock protrusion, close to trochanter (hip-joint) height.
HIP_LEVEL = 1.0

#: ANSUR II male mean biacromial breadth 41.6 cm over hip breadth 34.6 cm (female 36.5 / 35.4):
#: the average man's shoulder-to-hip proportion, which the body-type rule compares against.
SHOULDER_TO_HIP_BREADTH = 41.6 / 34.6  # 1.20

#: Assumption: hair and footwear put the silhouette's top and bottom 0-4 cm away from the crown
#: and the sole the stated height refers to; 1.5 cm is one standard deviation of that offset.
SILHOUETTE_HEIGHT_SD_CM = 1.5
#: Assumption: a measurement line is read over a band +-1% of stature (about 1.7 cm) high, the
#: tolerance of placing a tape by hand; the spread of widths inside the band is its noise.
LEVEL_BAND_FRACTION = 0.01
