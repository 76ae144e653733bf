// Round-trips the messages of protocol.md §3, written as a 2.x peer writes
// them, through the wire layer: framed into one byte stream, cut into small
// chunks, split back into frames, parsed, decoded, and encoded again.
import { Framing, Message } from "effect-jstp"

const fromPeer = [
  "{handshake:[0,'chat'],login:['marcus','secret']}",
  "{handshake:[0],ok:'9b71d224-bd62-4a10-b8c4-1b5e8f0ea12c'}",
  "{call:[17,'auth'],newAccount:['Payload']}",
  "{callback:[17],ok:[15703]}",
  "{callback:[18],error:[12]}",
  "{event:[-12,'chat'],message:['Marcus','Hi, \\'all\\' 👋']}",
  "{inspect:[42,'chat']}",
  "{ping:[5]}",
  "{pong:[5]}",
  "{}"
]

const stream = Buffer.concat(fromPeer.map(Framing.encode))
const decoder = Framing.makeDecoder()
const received: Array<string> = []
for (let offset = 0; offset < stream.length; offset += 7) {
  decoder.push(stream.subarray(offset, offset + 7), (frame) => received.push(frame))
}

for (const frame of received) {
  const message = Message.deserialize(frame)
  console.log(`${message._tag.padEnd(16)} ${frame}\n${"".padEnd(16)} → ${Message.serialize(message)}`)
}
console.log(`\n${received.length} messages (${stream.length} bytes in chunks of 7) round-tripped.`)
