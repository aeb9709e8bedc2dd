"""The classroom simulator: simulated students' Chameleon instances on loopback.

from labsim import Classroom, PROFILES
with Classroom(root, ["healthy", "host_down"]) as room:
    room.students, room.openstack_env
"""

from .classroom import Classroom, SimStudent
from .hosts import SimHost
from .profiles import PROFILES, Profile

__all__ = ["Classroom", "SimStudent", "SimHost", "Profile", "PROFILES"]
