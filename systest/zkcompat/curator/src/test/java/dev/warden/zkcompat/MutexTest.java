package dev.warden.zkcompat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.junit.jupiter.api.Test;

/** InterProcessMutex: one holder at a time among three clients. */
class MutexTest {
    @Test
    void mutualExclusionAmongThreeClients() throws Exception {
        String path = Zk.base("mutex");
        int threads = 3, rounds = 5;
        AtomicInteger inside = new AtomicInteger(), maxInside = new AtomicInteger(), total = new AtomicInteger();
        try (Zk zk = new Zk()) {
            List<CuratorFramework> cs = new ArrayList<>();
            for (int i = 0; i < threads; i++) {
                cs.add(zk.client());
            }
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            List<Future<?>> fs = new ArrayList<>();
            for (CuratorFramework c : cs) {
                fs.add(pool.submit(() -> {
                    InterProcessMutex m = new InterProcessMutex(c, path);
                    for (int r = 0; r < rounds; r++) {
                        assertTrue(m.acquire(30, TimeUnit.SECONDS), "lock not acquired within 30 s");
                        try {
                            maxInside.accumulateAndGet(inside.incrementAndGet(), Math::max);
                            total.incrementAndGet();
                            Thread.sleep(10); // hold it while the others queue up
                            inside.decrementAndGet();
                        } finally {
                            m.release();
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : fs) {
                f.get(120, TimeUnit.SECONDS);
            }
            pool.shutdown();
            assertEquals(1, maxInside.get(), "more than one holder at once");
            assertEquals(threads * rounds, total.get());
            // Curator makes the lock's parent a container node, which the
            // server may delete once the last lock node has gone.
            if (cs.get(0).checkExists().forPath(path) != null) {
                assertEquals(0, cs.get(0).getChildren().forPath(path).size(), "lock nodes left behind");
            }
        }
    }
}
