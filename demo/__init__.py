"""The synthetic shapes world the demo CLIP model is trained and evaluated on."""
