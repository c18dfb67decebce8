"""Membership and discovery: the view of the mesh, the controller, mDNS, departures, placement."""
