"""Generated code only (`make protos`, from protos/grpc/): never edited by hand."""
