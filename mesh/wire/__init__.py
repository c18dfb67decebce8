"""Wire and transport: the codec, frames, gRPC channels and servers, the handshake, peer links."""
