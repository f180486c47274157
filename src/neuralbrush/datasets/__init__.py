"""Datasets: building, face alignment, pix2pix pairs, reading, procedural samples, Flickr."""
