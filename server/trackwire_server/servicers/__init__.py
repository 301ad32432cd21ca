"""Thin gRPC servicers: validate, convert, one store call, convert back."""
