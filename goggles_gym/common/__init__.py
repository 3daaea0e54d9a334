"""Small helpers shared by every part of goggles-gym (files, devices, seeding)."""
