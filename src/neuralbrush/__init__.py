"""neuralbrush: an AI art studio.

Build datasets from your own images, train StyleGAN2-ADA / DCGAN / pix2pix on them, make art
with the trained models, and paint photographs with neural style transfer.
"""

__version__ = "0.1.0"
