"""One rule set for custom images, evaluated offline on a VHD and live on a node."""
