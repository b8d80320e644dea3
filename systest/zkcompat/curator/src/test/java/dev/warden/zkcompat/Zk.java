package dev.warden.zkcompat;

import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.function.BooleanSupplier;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.ExponentialBackoffRetry;

/** Clients of the servers in ZK_HOSTS, and bounded polling. */
final class Zk implements AutoCloseable {
    private final List<CuratorFramework> clients = new ArrayList<>();

    static String hosts() {
        String h = System.getenv("ZK_HOSTS");
        if (h == null || h.isEmpty()) {
            throw new IllegalStateException("ZK_HOSTS is not set (e.g. 127.0.0.1:2181)");
        }
        return h;
    }

    /** A test's own base path. */
    static String base(String name) {
        return "/curator-" + name + "-" + UUID.randomUUID().toString().substring(0, 8);
    }

    /** A started client with a session of its own, closed with this. */
    CuratorFramework client() throws InterruptedException {
        CuratorFramework c = CuratorFrameworkFactory.builder()
                .connectString(hosts())
                .sessionTimeoutMs(10_000)
                .connectionTimeoutMs(10_000)
                .retryPolicy(new ExponentialBackoffRetry(100, 5))
                .build();
        clients.add(c);
        c.start();
        if (!c.blockUntilConnected(30, java.util.concurrent.TimeUnit.SECONDS)) {
            throw new AssertionError("no connection to " + hosts() + " within 30 s");
        }
        return c;
    }

    static void waitFor(BooleanSupplier cond, long timeoutMs, String what) throws InterruptedException {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out after " + timeoutMs + " ms waiting for " + what);
            }
            Thread.sleep(10);
        }
    }

    @Override
    public void close() {
        for (CuratorFramework c : clients) {
            c.close();
        }
    }
}
