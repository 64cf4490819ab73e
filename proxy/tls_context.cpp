#include "proxy/tls_context.hpp"

#include <boost/asio/ip/address.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

namespace icalgate::proxy {

namespace asio = boost::asio;

namespace {

// Mozilla's "intermediate" TLS 1.2 list: forward secret AEAD suites only. TLS 1.3 suites are
// OpenSSL's defaults (all AEAD).
constexpr const char* tls12_ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                      "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                      "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
// The same order for TLS 1.3 (OpenSSL's own puts AES-256 first): a relay decrypts and
// encrypts every byte once per leg, and AES-128-GCM does that with less CPU.
constexpr const char* tls13_ciphersuites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

std::string openssl_error_text(const boost::system::error_code& ec) {
  std::string text = ec.message();
  if (const unsigned long err = ERR_get_error(); err != 0) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof buf);
    text = buf;
  }
  ERR_clear_error();
  return text;
}

// Our own ex_data slot: asio keeps its verify callback in slot 0 (the "app data").
int upstream_holder_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

void common_settings(SSL_CTX* ctx, long min_version) {
  SSL_CTX_set_min_proto_version(ctx, min_version);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  // Buffers exist only while data flows: thousands of idle (IDLE) sessions stay cheap.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  // With read-ahead (proxy/stream.cpp) one read() takes up to this much of what the socket
  // holds: several records per system call during a large FETCH or APPEND instead of about
  // one 16 KB record's worth. Only while data flows, like every buffer above.
  SSL_CTX_set_default_read_buffer_len(ctx, 64 * 1024);
  SSL_CTX_set_cipher_list(ctx, tls12_ciphers);
  SSL_CTX_set_ciphersuites(ctx, tls13_ciphersuites);
}

} // namespace

std::variant<SslContextPtr, std::string> make_server_context(const TlsConfig& tls) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  common_settings(native, tls.min_version == TlsVersion::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_CIPHER_SERVER_PREFERENCE);
  ERR_clear_error();
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(tls.cert, ec);
  if (ec) {
    return "cannot load certificate chain " + tls.cert + ": " + openssl_error_text(ec);
  }
  ctx->use_private_key_file(tls.key, asio::ssl::context::pem, ec);
  if (ec) {
    return "cannot load private key " + tls.key + ": " + openssl_error_text(ec);
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    ERR_clear_error();
    return "private key " + tls.key + " does not match certificate " + tls.cert;
  }
  // One TLS 1.3 ticket per connection instead of OpenSSL's two: each costs a session copy,
  // its encoding and encryption on every new connection, and a client that reconnects
  // resumes with one (its next connection brings the next ticket).
  SSL_CTX_set_num_tickets(native, 1);
  static constexpr unsigned char session_id_context[] = "icalgate";
  SSL_CTX_set_session_id_context(native, session_id_context, sizeof session_id_context - 1);
  return ctx;
}

std::variant<std::unique_ptr<ServerTlsContext>, std::string>
ServerTlsContext::create(TlsConfig tls) {
  std::unique_ptr<ServerTlsContext> holder(new ServerTlsContext(std::move(tls)));
  if (std::string error = holder->reload(); !error.empty()) {
    return error;
  }
  return holder;
}

SslContextPtr ServerTlsContext::current() const {
  const std::lock_guard lock(mutex_);
  return current_;
}

ServerTlsContext::FileStamp ServerTlsContext::stamp(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return {};
  }
  return FileStamp{st.st_mtim.tv_sec, st.st_mtim.tv_nsec, static_cast<long long>(st.st_size)};
}

std::string ServerTlsContext::reload() {
  // Stamp before loading: a write racing with the load is seen as a change next time.
  const FileStamp cert = stamp(tls_.cert);
  const FileStamp key = stamp(tls_.key);
  auto made = make_server_context(tls_);
  const std::lock_guard lock(mutex_);
  cert_stamp_ = cert;
  key_stamp_ = key;
  if (auto* error = std::get_if<std::string>(&made)) {
    return *error;
  }
  current_ = std::get<SslContextPtr>(std::move(made));
  return {};
}

bool ServerTlsContext::files_changed() const {
  const FileStamp cert = stamp(tls_.cert);
  const FileStamp key = stamp(tls_.key);
  const std::lock_guard lock(mutex_);
  return !(cert == cert_stamp_) || !(key == key_stamp_);
}

std::optional<std::string> ServerTlsContext::reload_if_changed() {
  if (!files_changed()) {
    return std::nullopt;
  }
  return reload();
}

std::variant<std::unique_ptr<UpstreamTlsContext>, std::string>
UpstreamTlsContext::create(const UpstreamConfig& upstream) {
  std::unique_ptr<UpstreamTlsContext> holder(new UpstreamTlsContext());
  holder->context_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
  holder->name_ = upstream.verified_name();
  holder->session_cache_ = upstream.session_cache;
  SSL_CTX* native = holder->context_->native_handle();
  common_settings(native, TLS1_2_VERSION);
  ERR_clear_error();
  boost::system::error_code ec;
  if (upstream.ca_file.empty()) {
    holder->context_->set_default_verify_paths(ec);
  } else {
    holder->context_->load_verify_file(upstream.ca_file, ec);
  }
  if (ec) {
    return "cannot load CA certificates " +
           (upstream.ca_file.empty() ? std::string("(system store)") : upstream.ca_file) + ": " +
           openssl_error_text(ec);
  }
  holder->context_->set_verify_mode(asio::ssl::verify_peer);
  if (holder->session_cache_) {
    // TLS 1.3 tickets arrive after the handshake: the callback sees every one of them.
    SSL_CTX_set_session_cache_mode(native,
                                   SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_set_ex_data(native, upstream_holder_index(), holder.get());
    SSL_CTX_sess_set_new_cb(native, &UpstreamTlsContext::on_new_session);
  }
  return holder;
}

UpstreamTlsContext::~UpstreamTlsContext() {
  if (session_ != nullptr) {
    SSL_SESSION_free(session_);
  }
}

int UpstreamTlsContext::on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* self = static_cast<UpstreamTlsContext*>(
      SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), upstream_holder_index()));
  if (self == nullptr) {
    return 0;
  }
  // A copy: OpenSSL marks the connection's own session object not resumable when that
  // connection ends without a TLS shutdown, as upstream connections usually do.
  SSL_SESSION* copy = SSL_SESSION_dup(session);
  if (copy == nullptr) {
    return 0;
  }
  if (self->session_ != nullptr) {
    SSL_SESSION_free(self->session_);
  }
  self->session_ = copy;
  return 0; // OpenSSL keeps its reference to `session`
}

std::string UpstreamTlsContext::prepare(SSL* ssl) {
  boost::system::error_code ec;
  (void)asio::ip::make_address(name_, ec);
  if (ec) {
    // RFC 6066: SNI carries host names only.
    // SSL_set_tlsext_host_name() is a macro with a C cast.
    if (SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(name_.c_str())) != 1 ||
        SSL_set1_host(ssl, name_.c_str()) != 1) {
      ERR_clear_error();
      return "cannot set the upstream name " + name_;
    }
  } else if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name_.c_str()) != 1) {
    ERR_clear_error();
    return "cannot set the upstream address " + name_;
  }
  SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (session_cache_ && session_ != nullptr) {
    SSL_set_session(ssl, session_);
  }
  return {};
}

bool UpstreamTlsContext::last_session_reused(SSL* ssl) const {
  return SSL_session_reused(ssl) == 1;
}

} // namespace icalgate::proxy
