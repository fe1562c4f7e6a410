"""sensor-pipeline: warns an athlete before a hamstring cramp.

Knee and hip angles from IMUs give hamstring shortening, the sEMG median frequency gives
fatigue, and a risk engine alerts when the leg sits shortened, active and fatigued.
"""

__version__ = "0.1.0"
