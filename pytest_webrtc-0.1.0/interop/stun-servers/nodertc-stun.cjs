// The npm `stun` package's (nodertc) reference server, as its CLI (src/cli.js) means it, fixed to run:
// the CLI hands createServer a bare socket where it takes {type, socket}, so it never answers.
// The Binding handler is the CLI's own, unchanged: it builds the response with createMessage(type)
// and so a fresh random transaction id, which is what the conformance suite must report.
// Usage: node nodertc-stun.cjs HOST PORT   (prints "listening HOST:PORT" once bound)
'use strict';

const dgram = require('dgram');
const stun = require('stun');

const [host = '127.0.0.1', port = '0'] = process.argv.slice(2);
const socket = dgram.createSocket('udp4');
const server = stun.createServer({ type: 'udp4', socket });
const { STUN_BINDING_RESPONSE, STUN_EVENT_BINDING_REQUEST } = stun.constants;

server.on(STUN_EVENT_BINDING_REQUEST, (request, rinfo) => {
  const message = stun.createMessage(STUN_BINDING_RESPONSE);
  message.addXorAddress(rinfo.address, rinfo.port);
  message.addSoftware(`node/${process.version} stun`);
  server.send(message, rinfo.port, rinfo.address);
});
server.on('error', (error) => process.stderr.write(`${error.message}\n`));
process.on('SIGTERM', () => process.exit(0));
socket.bind(Number(port), host, () => {
  const address = socket.address();
  process.stdout.write(`listening ${address.address}:${address.port}\n`);
});
