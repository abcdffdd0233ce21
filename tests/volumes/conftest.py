"""The VSP contract server (a simulator of the documented REST API, not an array), as the
array tests start it."""

from tests.arrays.conftest import vsp, vsp_pki  # noqa: F401
