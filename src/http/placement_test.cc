// Connection placement: the policy's decisions, and the server packing and moving connections.
#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <sstream>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include "http/placement.h"
#include "http/server.h"

namespace ap::http {
namespace {

TEST(PlaceNewConnection, LowestWorkerWithRoomElseTheLeastBusy) {
  PlacementPolicy p;
  std::vector<WorkerLoad> loads{{0.0, 0}, {0.0, 0}};
  EXPECT_EQ(PlaceNewConnection(p, loads), 0);
  loads = {{0.74, 40}, {0.0, 0}};
  EXPECT_EQ(PlaceNewConnection(p, loads), 0);  // packed while it has room
  loads = {{0.80, 40}, {0.10, 3}, {0.0, 0}};
  EXPECT_EQ(PlaceNewConnection(p, loads), 1);
  loads = {{0.95, 40}, {0.90, 30}, {0.85, 20}};
  EXPECT_EQ(PlaceNewConnection(p, loads), 2);  // all full: the least busy
  EXPECT_EQ(PlaceNewConnection(p, {}), 0);
}

TEST(PlanMoves, ASaturatedWorkerShedsItsExcessWhenTheMachineHasSpareCores) {
  PlacementPolicy p;
  std::vector<WorkerLoad> loads{{1.0, 40}, {0.3, 5}, {0.1, 2}};
  auto m = PlanMoves(p, loads, 0, /*machine_idle_cores=*/1.5);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->to, 2);      // the least busy light worker
  EXPECT_EQ(m->count, 10);  // (1.0 − 0.75) / 1.0 of 40
  // No spare CPU: another thread would not run either.
  EXPECT_FALSE(PlanMoves(p, loads, 0, 0.2).has_value());
  // Unknown machine load counts as spare.
  EXPECT_TRUE(PlanMoves(p, loads, 0, -1).has_value());
  // Nobody light enough to take them.
  loads = {{1.0, 40}, {0.6, 20}};
  EXPECT_FALSE(PlanMoves(p, loads, 0, 1.5).has_value());
  // Below shed_at: stays.
  loads = {{0.85, 40}, {0.0, 0}};
  EXPECT_FALSE(PlanMoves(p, loads, 0, 1.5).has_value());
}

TEST(PlanMoves, LightWorkersFoldIntoLowerOnes) {
  PlacementPolicy p;
  std::vector<WorkerLoad> loads{{0.2, 10}, {0.3, 6}, {0.1, 1}};
  auto m = PlanMoves(p, loads, 2, 0);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->to, 0);
  EXPECT_EQ(m->count, 1);  // all of them
  m = PlanMoves(p, loads, 1, 0);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->to, 0);
  EXPECT_EQ(m->count, 6);
  // Worker 0 never folds, and a pair that would not fit under pack_below stays apart.
  EXPECT_FALSE(PlanMoves(p, loads, 0, 0).has_value());
  loads = {{0.4, 10}, {0.3, 6}};
  EXPECT_FALSE(PlanMoves(p, loads, 1, 0).has_value());
  // Nothing to move.
  loads = {{0.0, 0}, {0.0, 0}};
  EXPECT_FALSE(PlanMoves(p, loads, 1, 0).has_value());
}

TEST(ThreadBusySampler, ReadsASpinningThreadAsBusyAndASleepingOneAsIdle) {
  ThreadBusySampler s;
  EXPECT_EQ(s.Sample(), 0);
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(30);
  while (std::chrono::steady_clock::now() < until) {
  }
  double spinning = s.Sample();
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  double sleeping = s.Sample();
  EXPECT_GT(spinning, 0.2);  // a loaded CI machine may take the core away part of the time
  EXPECT_LT(sleeping, 0.2);
}

TEST(MachineIdleSampler, GivesCoresOnceItHasTwoReadings) {
  MachineIdleSampler s;
  EXPECT_LT(s.Sample(), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  double idle = s.Sample();
  EXPECT_GE(idle, 0);
  EXPECT_LE(idle, std::thread::hardware_concurrency() + 0.01);
}

// Answers with the id of the thread that served the request.
class WhoHandler : public Handler {
 public:
  net::awaitable<void> Handle(Request& req, Responder& res) override {
    Response r{Status::ok, 11};
    std::ostringstream id;
    id << std::this_thread::get_id();
    r.body() = std::string(req.target()) + " " + id.str();
    co_await res.Send(std::move(r));
  }
  Response ProtocolError(Status s, std::string_view msg) override {
    Response r{s, 11};
    r.body() = std::string(msg);
    return r;
  }
};

// A blocking client connection: sends requests (pipelined when several) and reads the answers.
struct Client {
  explicit Client(uint16_t port) : socket(ioc) {
    socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  }
  void Send(const std::vector<std::string>& targets) {
    std::string out;
    for (const auto& t : targets) out += "GET " + t + " HTTP/1.1\r\nHost: x\r\n\r\n";
    net::write(socket, net::buffer(out));
  }
  // Reads one response; returns its body.
  std::string Read() {
    size_t n = net::read_until(socket, in, "\r\n\r\n");
    std::string head(static_cast<const char*>(in.data().data()), n);
    in.consume(n);
    auto at = head.find("Content-Length: ");
    EXPECT_NE(at, std::string::npos) << head;
    size_t len = std::stoul(head.substr(at + 16));
    if (in.size() < len) net::read(socket, in, net::transfer_exactly(len - in.size()));
    std::string body(static_cast<const char*>(in.data().data()), len);
    in.consume(len);
    return body;
  }
  net::io_context ioc;
  tcp::socket socket;
  net::streambuf in;
};

std::string ThreadOf(const std::string& body) { return body.substr(body.find(' ') + 1); }

TEST(ServerPlacement, ConnectionsOnAnIdleServerArePackedOntoOneWorker) {
  ServerOptions o;
  o.threads = 4;
  Server server(o, std::make_shared<WhoHandler>());
  ASSERT_TRUE(server.Start());
  std::vector<std::unique_ptr<Client>> clients;
  std::set<std::string> threads;
  for (int i = 0; i < 16; ++i) {  // the kernel's hash spreads these over all four listeners
    clients.push_back(std::make_unique<Client>(server.port()));
    clients.back()->Send({"/" + std::to_string(i)});
    threads.insert(ThreadOf(clients.back()->Read()));
  }
  EXPECT_EQ(threads.size(), 1u);
  clients.clear();
  server.Shutdown(std::chrono::milliseconds(500));
}

TEST(ServerPlacement, ConnectionsMovedBetweenRequestsKeepTheirPipelinedRequests) {
  ServerOptions o;
  o.threads = 2;
  o.read_timeout = o.idle_timeout = o.write_timeout = std::chrono::milliseconds(2000);
  // Every worker sheds every connection at every sample: connections keep moving.
  o.placement.open_below = 0;
  o.placement.shed_at = 0;
  o.placement.shed_to_below = 2;
  o.placement.spare_cores = -1;
  o.placement.sample_interval = std::chrono::milliseconds(1);
  Server server(o, std::make_shared<WhoHandler>());
  ASSERT_TRUE(server.Start());
  std::vector<std::unique_ptr<Client>> clients;
  for (int c = 0; c < 4; ++c) clients.push_back(std::make_unique<Client>(server.port()));
  std::set<std::string> threads;
  for (int round = 0; round < 60; ++round) {
    for (int c = 0; c < 4; ++c) {
      std::vector<std::string> targets;
      for (int k = 0; k < 3; ++k) targets.push_back("/c" + std::to_string(c) + "/r" + std::to_string(round * 3 + k));
      clients[c]->Send(targets);  // three at once: the next ones are in the buffer when it moves
    }
    for (int c = 0; c < 4; ++c) {
      for (int k = 0; k < 3; ++k) {
        std::string body = clients[c]->Read();
        std::string want = "/c" + std::to_string(c) + "/r" + std::to_string(round * 3 + k);
        ASSERT_EQ(body.substr(0, body.find(' ')), want);
        if (c == 0) threads.insert(ThreadOf(body));
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_GT(server.connections_moved(), 0);
  EXPECT_EQ(threads.size(), 2u);  // connection 0 was served on both workers
  EXPECT_EQ(server.open_connections(), 4);
  clients.clear();
  server.Shutdown(std::chrono::milliseconds(1000));
  EXPECT_EQ(server.open_connections(), 0);
}

TEST(ServerPlacement, WithPackingOffConnectionsStayWhereTheKernelPutThem) {
  ServerOptions o;
  o.threads = 2;
  o.placement.pack = false;
  o.placement.sample_interval = std::chrono::milliseconds(1);
  Server server(o, std::make_shared<WhoHandler>());
  ASSERT_TRUE(server.Start());
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 8; ++i) {
    clients.push_back(std::make_unique<Client>(server.port()));
    for (int r = 0; r < 5; ++r) {
      clients.back()->Send({"/x"});
      clients.back()->Read();
    }
  }
  EXPECT_EQ(server.connections_moved(), 0);
  clients.clear();
  server.Shutdown(std::chrono::milliseconds(500));
}

// Moves the serving worker's thread to one CPU, then answers.
class PinningHandler : public WhoHandler {
 public:
  explicit PinningHandler(int cpu) : cpu_(cpu) {}
  net::awaitable<void> Handle(Request& req, Responder& res) override {
    base::CpuSet one;
    one.set(cpu_);
    base::SetThreadCpus(0, one);
    co_await WhoHandler::Handle(req, res);
  }

 private:
  int cpu_;
};

template <typename Pred>
bool Eventually(Pred pred) {
  for (int i = 0; i < 400 && !pred(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return pred();
}

TEST(ServerLoopCpus, NameTheCpuOfEachWorkerHoldingConnectionsAndNoneWithout) {
  const base::CpuSet allowed = base::ThreadCpus();
  int last = -1;
  for (int cpu = 0; cpu < base::kMaxCpus; ++cpu)
    if (allowed.test(cpu)) last = cpu;
  ASSERT_GE(last, 0);
  ServerOptions o;
  o.threads = 2;
  o.placement.sample_interval = std::chrono::milliseconds(5);  // sweeps every 5 ms
  Server server(o, std::make_shared<PinningHandler>(last));
  ASSERT_TRUE(server.Start());
  EXPECT_TRUE(server.LoopCpus().none());
  base::CpuSet want;
  want.set(last);
  {
    Client client(server.port());
    client.Send({"/pin"});
    client.Read();
    EXPECT_TRUE(Eventually([&] { return server.LoopCpus() == want; }));
  }
  EXPECT_TRUE(Eventually([&] { return server.LoopCpus().none(); }));  // its last connection closed
  Client held(server.port());  // open at shutdown: the loop stops mid-sweep
  held.Send({"/pin"});
  held.Read();
  EXPECT_TRUE(Eventually([&] { return server.LoopCpus() == want; }));
  server.Shutdown(std::chrono::milliseconds(0));
  EXPECT_TRUE(server.LoopCpus().none());
}

}  // namespace
}  // namespace ap::http
