// (part 30_layers: in progress)
