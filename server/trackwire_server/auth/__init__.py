"""Authentication and access control: who calls (tokens, passwords), and what they may
do (grants), enforced for every RPC by one interceptor driven by one table (`rules`)."""
