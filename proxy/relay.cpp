#include "proxy/relay.hpp"

#include "proxy/session_lost.hpp"

#include "protocol/command.hpp"
#include "protocol/lexer.hpp"
#include "proxy/capabilities.hpp"
#include "proxy/logging.hpp"

#include <boost/asio/this_coro.hpp>

namespace icalgate::proxy {

namespace {

// The first two space-separated tokens of a line: tag and command (or status) name.
std::pair<std::string_view, std::string_view> tag_and_name(std::string_view line) {
  const std::size_t sp = line.find(' ');
  if (sp == std::string_view::npos) {
    return {line.substr(0, line.find_first_of("\r\n")), {}};
  }
  std::string_view rest = line.substr(sp + 1);
  const std::size_t end = rest.find_first_of(" \r\n");
  return {line.substr(0, sp), rest.substr(0, end)};
}

// Commands whose mailbox names the rewrite follows (UID COPY and UID MOVE among "UID").
bool follows_mailboxes(std::string_view name) {
  return protocol::imap_iequals(name, "SELECT") || protocol::imap_iequals(name, "EXAMINE") ||
         protocol::imap_iequals(name, "COPY") || protocol::imap_iequals(name, "MOVE") ||
         protocol::imap_iequals(name, "UID");
}

// Whether a command line is a FETCH or UID FETCH.
bool names_fetch(std::string_view line) {
  const auto [tag, name] = tag_and_name(line);
  if (protocol::imap_iequals(name, "FETCH")) {
    return true;
  }
  if (!protocol::imap_iequals(name, "UID")) {
    return false;
  }
  const auto [uid, second] = tag_and_name(line.substr(tag.size() + 1));
  return protocol::imap_iequals(second, "FETCH");
}

} // namespace

Relay::Relay(RelayEnds ends) : io_(ends) {}

asio::steady_timer& Relay::signal(std::unique_ptr<asio::steady_timer>& timer) {
  if (!timer) {
    timer = std::make_unique<asio::steady_timer>(io_.client.socket().get_executor());
  }
  return *timer;
}

bool Relay::client_writable() const {
  return !write_cut_ && io_.upstream_reader.framer().at_message_boundary();
}

asio::awaitable<error_code> Relay::write_client(std::string_view bytes, bool own_answer) {
  // The gateway's own answers wait until the client is between two of the upstream's
  // responses: a BAD written while a FETCH literal streams would land inside the message.
  while (writing_client_ || (own_answer && !client_between_responses_)) {
    auto& write_done = signal(write_done_);
    write_done.expires_at(asio::steady_timer::time_point::max());
    co_await write_done.async_wait(use_tuple);
    if ((co_await asio::this_coro::cancellation_state).cancelled() !=
        asio::cancellation_type::none) {
      co_return asio::error::operation_aborted;
    }
  }
  writing_client_ = true;
  write_cut_ = true; // until the write completes: a cancelled write leaves TLS unusable
  auto [ec, n] = co_await io_.client.write(bytes);
  io_.bytes_to_client += n;
  write_cut_ = static_cast<bool>(ec);
  writing_client_ = false;
  if (!own_answer) {
    // What the upstream side wrote ends where its framing stands.
    client_between_responses_ = upstream_message_start_;
  }
  if (write_done_) {
    write_done_->cancel();
  }
  co_return ec;
}

void Relay::finish(RelayEnd end) {
  // The first end counts: the other direction then fails only because it was cancelled.
  if (end_ == RelayEnd::running) {
    // After LOGOUT the client may hang up before the upstream does: either way it logged out.
    const bool after_logout = end == RelayEnd::client_closed || end == RelayEnd::upstream_bye;
    end_ = logout_sent_ && after_logout ? RelayEnd::logout : end;
  }
}

void Relay::refresh_deadline() {
  io_.deadline.expires_after(idle_ ? io_.limits.idle_command_timeout() : io_.limits.idle_timeout);
}

bool Relay::handle_client_frame(const protocol::Frame& frame) {
  if (skipping_client_) {
    if (frame.message_end) {
      skipping_client_ = false;
      client_message_start_ = true;
    }
    return true;
  }
  if (frame.error && inliner_) {
    return gather_frame(frame); // nothing of it went upstream: refused as a whole
  }
  if (frame.error) {
    if (!client_message_start_) {
      // Part of this command already went upstream; it cannot be completed.
      protocol_error_ = framing_rejection(*frame.error);
      log_event(LogLevel::info, "client_protocol_error",
                {field("session", io_.session_id), field("reason", std::string(protocol_error_))});
      finish(RelayEnd::client_protocol_error);
      return false;
    }
    const auto [tag, name] = tag_and_name(frame.bytes);
    local_answers_ += std::string(tag.substr(0, 64)) + " BAD " +
                      std::string(framing_rejection(*frame.error)) + "\r\n";
    skipping_client_ = !frame.message_end;
    return count_bad();
  }
  if (frame.kind == protocol::FrameKind::line && log_enabled(LogLevel::trace)) {
    log_event(
        LogLevel::trace, "C",
        {field("session", io_.session_id), field("line", io_.redactor.client_line(frame.bytes))});
  }
  if (inliner_) {
    return gather_frame(frame);
  }
  if (frame.kind == protocol::FrameKind::line) {
    if (client_message_start_) {
      const auto [tag, name] = tag_and_name(frame.bytes);
      const bool done = idle_ && protocol::is_idle_done(frame.bytes);
      if (done) {
        idle_ = false;
        refresh_deadline();
      } else if (protocol::imap_iequals(name, "IDLE")) {
        idle_ = true;
        idle_tag_ = tag;
        refresh_deadline();
      } else if (protocol::imap_iequals(name, "COMPRESS") && frame.message_end) {
        local_answers_ += compress_answer(frame.bytes, tag);
        return true;
      } else if (protocol::imap_iequals(name, "STARTTLS") && frame.message_end) {
        local_answers_ += std::string(tag) + " BAD TLS is already active\r\n";
        return count_bad();
      } else if (protocol::imap_iequals(name, "ID")) {
        copying_ = Copying::id;
        command_copy_.clear();
      } else if (io_.interceptor != nullptr && !frame.message_end && follows_mailboxes(name)) {
        copying_ = Copying::followed;
        command_copy_.clear();
      } else if (protocol::imap_iequals(name, "LOGOUT")) {
        logout_sent_ = true;
      }
      current_tag_ = tag;
      if (!done && frame.literal && io_.interceptor != nullptr && io_.interceptor->following() &&
          names_fetch(frame.bytes)) {
        // Header field names sent as literals: the FETCH is read whole before it goes on.
        inliner_.emplace(io_.limits.max_line_length);
        return gather_frame(frame);
      }
      if (!done) {
        auto hold = io_.interceptor != nullptr
                        ? io_.interceptor->hold(frame.bytes, frame.message_end, in_flight_ == 0)
                        : Hold{};
        if (hold.hold) {
          // The upstream side forwards it once its messages are decided.
          holding_ = true;
          client_message_start_ = true;
          return true;
        }
        in_flight_ += hold.upstream_commands;
        if (hold.instead) {
          to_upstream_.append(*hold.instead);
          client_message_start_ = true;
          return true;
        }
      }
    }
    if (frame.literal && !frame.literal->non_synchronizing) {
      sync_pending_ = true;
      sync_tag_ = current_tag_;
    }
  } else if (frame.kind == protocol::FrameKind::literal) {
    sync_pending_ = false;
  }
  if (copying_ != Copying::none) {
    note_command_copy(frame);
  }
  to_upstream_.append(frame.bytes);
  client_message_start_ = frame.message_end;
  return true;
}

bool Relay::gather_frame(const protocol::Frame& frame) {
  client_message_start_ = frame.message_end;
  switch (inliner_->add(frame)) {
  case protocol::LiteralInliner::Step::more:
    return true;
  case protocol::LiteralInliner::Step::literal_wanted:
    local_answers_ += "+ Ready for literal data\r\n";
    return true;
  case protocol::LiteralInliner::Step::refused: {
    const std::string_view why =
        frame.error ? framing_rejection(*frame.error) : inliner_->refusal();
    local_answers_ += current_tag_ + " BAD " + std::string(why) + "\r\n";
    inliner_.reset();
    const bool sync_announced = frame.kind == protocol::FrameKind::line && frame.literal &&
                                !frame.literal->non_synchronizing && !frame.error;
    if (sync_announced && io_.client_reader.framer().cancel_literal()) {
      client_message_start_ = true; // answered BAD instead of "+": the client sends no more
    } else {
      skipping_client_ = !frame.message_end;
    }
    return count_bad();
  }
  case protocol::LiteralInliner::Step::done:
    break;
  }
  std::string command = inliner_->command();
  inliner_.reset();
  auto hold = io_.interceptor->hold(command, true, in_flight_ == 0);
  if (hold.hold) {
    holding_ = true;
    return true;
  }
  in_flight_ += hold.upstream_commands;
  to_upstream_.append(hold.instead ? *hold.instead : command);
  return true;
}

bool Relay::count_bad() {
  // As before login: a client that keeps drawing BADs from the gateway is cut off.
  if (++bad_commands_ < io_.limits.max_bad_commands) {
    return true;
  }
  finish(RelayEnd::bad_commands);
  return false;
}

std::string Relay::compress_answer(std::string_view command, std::string_view tag) {
  const std::string t(tag);
  if (!io_.offer_compress) {
    return t + " NO Compression is not offered\r\n";
  }
  auto parsed = protocol::parse_command(command);
  if (!parsed || parsed->kind != protocol::CommandKind::compress) {
    return t + " BAD Expected COMPRESS DEFLATE\r\n";
  }
  if (!protocol::imap_iequals(std::get<protocol::CompressArgs>(parsed->args).mechanism,
                              "DEFLATE")) {
    return t + " NO Unknown compression mechanism\r\n";
  }
  if (io_.client.compressing()) {
    return t + " NO [COMPRESSIONACTIVE] DEFLATE is active already\r\n";
  }
  // RFC 4978: compression starts right after the OK, so nothing may be under way around it.
  if (in_flight_ != 0 || holding_ || !to_upstream_.empty()) {
    return t + " NO Earlier commands are not answered yet\r\n";
  }
  if (io_.client_reader.framer().unconsumed() != 0) {
    return t + " BAD Nothing may follow COMPRESS before its answer\r\n";
  }
  compress_next_ = true;
  return t + " OK DEFLATE active\r\n";
}

void Relay::note_command_copy(const protocol::Frame& frame) {
  // Thunderbird sends ID only after login; its name belongs in the session's log line. A
  // mailbox name sent as a literal must reach the rewrite's bookkeeping. The command is
  // still relayed untouched; this copy is bounded and parsed once complete.
  constexpr std::size_t max_command_copy = 8 * 1024;
  if (command_copy_.size() + frame.bytes.size() > max_command_copy) {
    copying_ = Copying::none;
    std::string().swap(command_copy_);
    return;
  }
  command_copy_.append(frame.bytes);
  if (!frame.message_end) {
    return;
  }
  if (copying_ == Copying::followed) {
    io_.interceptor->follow(command_copy_);
  } else if (auto parsed = protocol::parse_command(command_copy_);
             parsed && parsed->kind == protocol::CommandKind::id) {
    const auto& args = std::get<protocol::IdArgs>(parsed->args);
    if (args.params) {
      for (const auto& [key, value] : *args.params) {
        if (protocol::imap_iequals(key.value, "name") && value) {
          io_.client_name = value->value.substr(0, 256);
        }
      }
    }
  }
  copying_ = Copying::none;
  std::string().swap(command_copy_);
}

asio::awaitable<void> Relay::client_to_upstream() {
  while (true) {
    to_upstream_.clear();
    bool go_on = true;
    while (go_on && !holding_ && !compress_next_) {
      auto frame = io_.client_reader.poll();
      if (!frame) {
        break;
      }
      go_on = handle_client_frame(*frame);
    }
    if (!to_upstream_.empty()) {
      auto [ec, n] = co_await io_.upstream.write(to_upstream_);
      if (ec) {
        finish(RelayEnd::upstream_closed);
        co_return;
      }
    }
    if (!local_answers_.empty()) {
      const std::string answers = std::move(local_answers_);
      local_answers_.clear();
      if (co_await write_client(answers, true)) {
        finish(RelayEnd::client_closed);
        co_return;
      }
      if (compress_next_) {
        io_.client.start_compression();
        compress_next_ = false;
      }
    }
    if (!go_on) {
      co_return;
    }
    if (io_.deadline.fired()) {
      co_return; // the session's timeout ends the relay
    }
    if (holding_) {
      if (!co_await await_intercept()) {
        co_return;
      }
      continue; // more of the client's input may already be framed
    }
    // The reader's fill(), with its wait inlined: an idle session suspends here without a
    // further coroutine frame.
    auto got = io_.client_reader.fill_now(&to_upstream_);
    while (got == FrameReader::Fill::wait) {
      auto [ec] = co_await io_.client_reader.wait_input();
      got = io_.client_reader.waited(ec) ? io_.client_reader.fill_now(&to_upstream_)
                                         : FrameReader::Fill::failed;
    }
    if (got == FrameReader::Fill::failed) {
      finish(RelayEnd::client_closed);
      co_return;
    }
    refresh_deadline();
  }
}

asio::awaitable<bool> Relay::await_intercept() {
  intercept_requested_ = true;
  if (upstream_waiting_ && in_flight_ == 0) {
    // Nothing is due from the upstream: wake its side from its wait for input.
    wake_ = true;
    error_code ignored;
    io_.upstream.socket().cancel(ignored);
  }
  while (intercept_requested_) {
    auto& intercept_done = signal(intercept_done_);
    intercept_done.expires_at(asio::steady_timer::time_point::max());
    co_await intercept_done.async_wait(use_tuple);
    if ((co_await asio::this_coro::cancellation_state).cancelled() !=
            asio::cancellation_type::none ||
        end_ != RelayEnd::running || io_.deadline.fired()) {
      co_return false;
    }
  }
  holding_ = false;
  co_return true;
}

asio::awaitable<bool> Relay::run_intercept() {
  // A coroutine of its own: what it holds stays out of the frame that idle sessions keep.
  InterceptIo intercept{io_.upstream, io_.upstream_reader,
                        [this](std::string bytes) -> asio::awaitable<bool> {
                          co_return !co_await write_client(bytes);
                        }};
  auto outcome = co_await io_.interceptor->run(std::move(intercept));
  if (!outcome.ok) {
    finish(io_.deadline.fired()              ? RelayEnd::running
           : io_.interceptor->session_lost() ? RelayEnd::upstream_lost
                                             : RelayEnd::upstream_closed);
    co_return false;
  }
  ++in_flight_; // the held command, now forwarded
  if (outcome.completion) {
    // The interceptor read the command's answers itself; its completion is the relay's.
    protocol::Frame frame;
    frame.bytes = *outcome.completion;
    frame.message_end = true;
    to_client_.clear();
    const bool go_on = handle_upstream_frame(frame);
    if (co_await write_client(to_client_)) {
      finish(RelayEnd::client_closed);
      co_return false;
    }
    to_client_.clear();
    if (!go_on) {
      co_return false;
    }
  }
  intercept_requested_ = false;
  if (intercept_done_) {
    intercept_done_->cancel();
  }
  co_return true;
}

bool Relay::intercept_due() const {
  return intercept_requested_ && in_flight_ == 0 &&
         io_.upstream_reader.framer().at_message_boundary() && !collecting_whole_;
}

bool Relay::handle_upstream_frame(const protocol::Frame& frame) {
  if (!collecting_whole_ && frame.kind == protocol::FrameKind::line && upstream_message_start_ &&
      !frame.error && io_.interceptor != nullptr) {
    io_.interceptor->note_response(frame.bytes);
    io_.interceptor->note_answer(frame.bytes);
    if (io_.interceptor->wants_whole(frame.bytes)) {
      collecting_whole_ = true;
      whole_.clear();
    }
  }
  if (collecting_whole_) {
    // An answer about a rewritten message: rebuilt from the rewritten bytes once complete.
    if (whole_.size() + frame.bytes.size() > io_.limits.max_literal_size + (1u << 20)) {
      finish(RelayEnd::upstream_closed);
      return false;
    }
    whole_.append(frame.bytes);
    upstream_message_start_ = frame.message_end;
    if (frame.message_end) {
      collecting_whole_ = false;
      to_client_ += io_.interceptor->substitute(std::move(whole_));
      whole_.clear();
    }
    return true;
  }
  if (frame.kind == protocol::FrameKind::line && upstream_message_start_ && !frame.error) {
    const std::string_view line = frame.bytes;
    if (log_enabled(LogLevel::trace)) {
      log_event(LogLevel::trace, "S",
                {field("session", io_.session_id), field("line", io_.redactor.server_line(line))});
    }
    const auto [tag, name] = tag_and_name(line);
    if (frame.continuation) {
      sync_pending_ = false;
    } else if (tag == "*") {
      if (protocol::imap_iequals(name, "BYE")) {
        upstream_said_bye_ = true;
      }
    } else {
      in_flight_ -= in_flight_ > 0 ? 1 : 0;
      if (idle_ && tag == idle_tag_) {
        // Refused, or answered after DONE: either way the session is no longer idling.
        idle_ = false;
        refresh_deadline();
      }
      if (sync_pending_ && tag == sync_tag_) {
        // The upstream refused the command instead of asking for its literal, so the
        // client will not send it.
        io_.client_reader.framer().cancel_literal();
        sync_pending_ = false;
      }
      if (says_session_lost(name, line)) {
        finish(RelayEnd::upstream_lost);
        upstream_message_start_ = frame.message_end;
        return false;
      }
      if (io_.interceptor != nullptr && !frame.literal) {
        if (auto replaced = io_.interceptor->replace_completion(line)) {
          to_client_ += *replaced;
          upstream_message_start_ = frame.message_end;
          return true;
        }
      }
    }
    if (!frame.literal && mentions_capability(line)) {
      if (auto filtered = filter_capability_response(line, io_.offer_compress)) {
        to_client_ += *filtered;
        upstream_message_start_ = frame.message_end;
        return true;
      }
    }
  }
  to_client_.append(frame.bytes);
  upstream_message_start_ = frame.message_end;
  return true;
}

asio::awaitable<void> Relay::upstream_to_client() {
  while (true) {
    to_client_.clear();
    bool go_on = true;
    while (go_on) {
      auto frame = io_.upstream_reader.poll();
      if (!frame) {
        break;
      }
      go_on = handle_upstream_frame(*frame);
    }
    if (!to_client_.empty()) {
      if (co_await write_client(to_client_)) {
        finish(RelayEnd::client_closed);
        co_return;
      }
      refresh_deadline(); // a client receiving a large FETCH is not idle
    }
    if (!go_on) {
      co_return;
    }
    if (io_.deadline.fired()) {
      co_return;
    }
    if (intercept_due()) {
      if (!co_await run_intercept()) {
        co_return;
      }
      continue;
    }
    // As FrameReader::fill(), with the wait inlined (see client_to_upstream).
    auto got = io_.upstream_reader.fill_now(&to_client_);
    while (got == FrameReader::Fill::wait) {
      upstream_waiting_ = true;
      auto [ec] = co_await io_.upstream_reader.wait_input();
      upstream_waiting_ = false;
      got = io_.upstream_reader.waited(ec) ? io_.upstream_reader.fill_now(&to_client_)
                                           : FrameReader::Fill::failed;
    }
    const bool filled = got == FrameReader::Fill::ready;
    if (!filled && wake_ && !io_.deadline.fired()) {
      wake_ = false;
      continue;
    }
    if (!filled) {
      finish(upstream_said_bye_ ? RelayEnd::upstream_bye : RelayEnd::upstream_closed);
      co_return;
    }
  }
}

} // namespace icalgate::proxy
