"""What the client and the server both use, and nothing else: the rules for names and
paths (`naming`), the hand-encoded artifact chunks (`wire`), status codes as exceptions
(`errors`), unary calls with retries and streams (`calls`), a channel with its stubs
(`channel`), the token (`bearer`) and the commit position (`positions`) its calls carry,
and a stream watched anew when the server ends it (`watch`).

It imports the generated stubs (`trackwire.v1`) and no other client module, so the server
can use it without loading the client.
"""
