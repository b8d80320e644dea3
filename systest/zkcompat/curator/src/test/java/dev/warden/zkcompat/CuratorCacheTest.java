package dev.warden.zkcompat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.cache.ChildData;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.junit.jupiter.api.Test;

/**
 * CuratorCache (a persistent recursive watch on ZooKeeper 3.6+) sees
 * every change another client makes, in order.
 */
class CuratorCacheTest {
    private static String data(ChildData d) {
        return d == null || d.getData() == null ? "" : new String(d.getData(), StandardCharsets.UTF_8);
    }

    @Test
    void seesEveryChange() throws Exception {
        String base = Zk.base("cache");
        try (Zk zk = new Zk()) {
            CuratorFramework watcher = zk.client(), writer = zk.client();
            writer.create().forPath(base, "0".getBytes(StandardCharsets.UTF_8));
            BlockingQueue<String> events = new LinkedBlockingQueue<>();
            CountDownLatch initialized = new CountDownLatch(1);
            try (CuratorCache cache = CuratorCache.build(watcher, base)) {
                cache.listenable().addListener(CuratorCacheListener.builder()
                        .forCreates(n -> events.add("create " + n.getPath() + " " + data(n)))
                        .forChanges((o, n) -> events.add("change " + n.getPath() + " " + data(o) + "->" + data(n)))
                        .forDeletes(o -> events.add("delete " + o.getPath() + " " + data(o)))
                        .forInitialized(initialized::countDown)
                        .build());
                cache.start();
                assertEquals(true, initialized.await(30, TimeUnit.SECONDS), "cache not initialized");
                assertEquals("create " + base + " 0", events.poll(10, TimeUnit.SECONDS));

                writer.create().forPath(base + "/a", "1".getBytes(StandardCharsets.UTF_8));
                assertEquals("create " + base + "/a 1", events.poll(10, TimeUnit.SECONDS));
                writer.setData().forPath(base + "/a", "2".getBytes(StandardCharsets.UTF_8));
                assertEquals("change " + base + "/a 1->2", events.poll(10, TimeUnit.SECONDS));
                writer.create().forPath(base + "/a/b", "3".getBytes(StandardCharsets.UTF_8));
                assertEquals("create " + base + "/a/b 3", events.poll(10, TimeUnit.SECONDS));
                writer.setData().forPath(base, "4".getBytes(StandardCharsets.UTF_8));
                assertEquals("change " + base + " 0->4", events.poll(10, TimeUnit.SECONDS));
                writer.delete().forPath(base + "/a/b");
                assertEquals("delete " + base + "/a/b 3", events.poll(10, TimeUnit.SECONDS));
                writer.delete().forPath(base + "/a");
                assertEquals("delete " + base + "/a 2", events.poll(10, TimeUnit.SECONDS));
                assertEquals(1, cache.size(), "cache holds only the base node");
                assertNull(events.poll(200, TimeUnit.MILLISECONDS), "an event nothing caused");
            }
        }
    }
}
