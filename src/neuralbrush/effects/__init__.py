"""Painterly effects for photographs, folders and videos: colour quantization, SLIC
superpixels (stained glass) and enhancement."""
