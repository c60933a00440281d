// node-turn (npm `node-turn` 0.0.6, a TURN/STUN server in JavaScript), on one loopback address.
// Usage: node node-turn.cjs HOST PORT [USER PASSWORD]   (prints "listening HOST:PORT" once bound)
'use strict';

const Turn = require('node-turn');

const [host = '127.0.0.1', port = '3478', user, password] = process.argv.slice(2);
const server = new Turn({
  listeningIps: [host],
  relayIps: [host],
  listeningPort: Number(port),
  authMech: user ? 'long-term' : 'none',
  credentials: user ? { [user]: password } : {},
  debugLevel: 'OFF',
});
server.start();
process.on('SIGTERM', () => { server.stop(); process.exit(0); });
// node-turn binds synchronously enough for its first datagram; say so once the loop turns.
setImmediate(() => process.stdout.write(`listening ${host}:${port}\n`));
