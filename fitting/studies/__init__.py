"""Study code used only by tests and benchmarks (closure matrix, voxel maps, Table 3 chain)."""
