"""The network path to a URL: which proxy (if any), which CA bundle.

Both are chosen once per run, before any timing, from the flags and the
environment (see docs/network.md):

- :mod:`lstream_cli.net.proxy`: ``--proxy``/``--noproxy`` and the proxy
  variables, as curl reads them;
- :mod:`lstream_cli.net.tunnel`: the CONNECT exchange with an HTTP proxy
  (sans-IO, parsed by llhttp), and the two thin drivers the clients use;
- :mod:`lstream_cli.net.trust`: ``--cacert``, ``AWS_CA_BUNDLE``, the
  profile's ``ca_bundle``, ``SSL_CERT_FILE``/``SSL_CERT_DIR``, the system
  store and certifi, as the AWS tools choose;
- :mod:`lstream_cli.net.options`: the flags as given, and
  :class:`~lstream_cli.net.options.Network`, the resolved choice a request
  spec carries to every client.
"""
