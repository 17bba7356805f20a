"""Generated protobuf and gRPC stubs for package ember.v1 (tools/gen_protos.py);
do not edit by hand."""
