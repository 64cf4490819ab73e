#pragma once
// The authenticated phase of a session: a full-duplex relay between client and upstream,
// one coroutine per direction, each framing what it forwards so that it can filter
// CAPABILITY lists, answer COMPRESS and STARTTLS itself, follow IDLE, and stop at a message
// boundary. Bytes are otherwise forwarded untouched, coalesced into large writes.

#include "protocol/literal_inliner.hpp"
#include "proxy/config.hpp"
#include "proxy/fetch_interceptor.hpp"
#include "proxy/redact.hpp"
#include "proxy/stream.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace icalgate::proxy {

enum class RelayEnd {
  running,
  client_closed,   // the client went away (or broke the protocol mid-command)
  upstream_closed, // the upstream connection ended without BYE
  logout,          // the client logged out (the upstream's BYE, or the client's close, followed)
  upstream_bye,    // the upstream said BYE of its own accord; already relayed
  upstream_lost,   // "BAD User is authenticated but not connected": the session is gone
  client_protocol_error, // framing failed mid-command (protocol_error() says how)
  bad_commands,          // the client drew max_bad_commands BADs from the gateway
};

struct RelayEnds {
  Stream& client;
  FrameReader& client_reader;
  Stream& upstream;
  FrameReader& upstream_reader;
  Deadline& deadline;
  const LimitsConfig& limits;
  ProtocolRedactor& redactor;
  std::uint64_t session_id = 0;
  std::uint64_t& bytes_to_client;
  std::string& client_name;                // updated from an ID command sent after login
  FetchInterceptor* interceptor = nullptr; // set when this session's mail is rewritten
  bool offer_compress = false;             // [listen] compress: COMPRESS=DEFLATE is offered
};

class Relay {
 public:
  explicit Relay(RelayEnds ends);

  // Runs until one direction ends (the other is then cancelled by the caller's `||`).
  asio::awaitable<void> client_to_upstream();
  asio::awaitable<void> upstream_to_client();

  RelayEnd end() const { return end_; }
  // Why framing failed, for client_protocol_error.
  std::string_view protocol_error() const { return protocol_error_; }
  // Whether a line can still be written to the client: no write was cut short and no
  // response is half sent.
  bool client_writable() const;
  // Writes to the client, taking turns with the other direction; an answer of the gateway's
  // own waits for the end of the upstream's response under way.
  asio::awaitable<error_code> write_client(std::string_view bytes, bool own_answer = false);

 private:
  bool handle_client_frame(const protocol::Frame& frame); // false: stop the relay
  bool handle_upstream_frame(const protocol::Frame& frame);
  // The answer to a COMPRESS command; on OK, compression starts once it is written.
  std::string compress_answer(std::string_view command, std::string_view tag);
  // Counts a BAD the gateway answered; false (the relay ends) once there were too many.
  bool count_bad();
  void note_command_copy(const protocol::Frame& frame);
  // A FETCH being read whole (see LiteralInliner); false: stop the relay.
  bool gather_frame(const protocol::Frame& frame);
  void refresh_deadline();
  void finish(RelayEnd end);
  // The client side hands a held FETCH to the upstream side and waits until it is forwarded.
  asio::awaitable<bool> await_intercept();
  // The upstream side runs the held FETCH through the interceptor; false: the relay ends.
  asio::awaitable<bool> run_intercept();
  asio::steady_timer& signal(std::unique_ptr<asio::steady_timer>& timer);
  bool intercept_due() const;

  RelayEnds io_;
  RelayEnd end_ = RelayEnd::running;
  std::string to_upstream_;
  std::string to_client_;
  std::string local_answers_;
  // Signals between the two directions, made on first use: most sessions never need them,
  // and each timer is about a hundred bytes that thousands of idle sessions would hold.
  std::unique_ptr<asio::steady_timer> write_done_;
  bool writing_client_ = false;
  bool client_between_responses_ = true; // what was written ends a whole response
  bool write_cut_ = false;
  // client → upstream
  bool client_message_start_ = true;
  bool skipping_client_ = false;
  bool idle_ = false;
  std::string idle_tag_; // of the IDLE in progress: its completion ends it, whatever it says
  std::string current_tag_;
  std::string_view protocol_error_;
  std::uint32_t bad_commands_ = 0; // BADs the gateway itself answered
  bool compress_next_ = false;     // COMPRESS accepted: everything after its OK is deflated
  // A command copied as it goes upstream, parsed once whole: ID (for the client name), or
  // one with a literal whose mailbox names the rewrite follows.
  enum class Copying : std::uint8_t { none, id, followed };
  Copying copying_ = Copying::none;
  std::string command_copy_;
  std::optional<protocol::LiteralInliner> inliner_; // a FETCH with literals, not yet whole
  // a synchronizing literal announced and not yet answered by the upstream
  bool sync_pending_ = false;
  std::string sync_tag_;
  // upstream → client
  bool upstream_message_start_ = true;
  bool upstream_said_bye_ = false;
  bool logout_sent_ = false; // the client sent LOGOUT: the upstream's BYE is its answer
  // client commands forwarded and not yet answered with their tagged response
  std::uint32_t in_flight_ = 0;
  // the rewrite: a FETCH held back by the interceptor until the upstream side ran it
  bool holding_ = false;
  bool intercept_requested_ = false;
  bool upstream_waiting_ = false; // the upstream side waits for input (may be woken)
  bool wake_ = false;
  std::unique_ptr<asio::steady_timer> intercept_done_;
  bool collecting_whole_ = false; // an answer about a rewritten message is being collected
  std::string whole_;
};

} // namespace icalgate::proxy
