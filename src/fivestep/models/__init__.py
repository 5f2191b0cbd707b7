"""Models: plain `nn.Module` nets, the one LightningModule (`System`), the losses, and
the task type with its one output-to-prediction rule."""
