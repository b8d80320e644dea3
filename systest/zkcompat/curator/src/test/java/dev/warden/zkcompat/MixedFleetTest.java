package dev.warden.zkcompat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.zookeeper.CreateMode;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.condition.EnabledIfEnvironmentVariable;

/**
 * The Curator half of a mixed fleet: a Curator app and a Warden socket app
 * (systest/zkcompat/mixed_test.go, TestMixedFleet, which starts this with
 * MIXED_BASE set) contend on one lock and one election. The two halves
 * take turns through nodes under MIXED_BASE: each appends "who what" to a
 * log (persistent sequential nodes, in commit order) and the Go half checks
 * the whole log at the end. Without MIXED_BASE these tests do not run.
 */
@EnabledIfEnvironmentVariable(named = "MIXED_BASE", matches = ".+")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class MixedFleetTest {
    static final int ROUNDS = 10;

    private static String base() {
        return System.getenv("MIXED_BASE");
    }

    private static void log(CuratorFramework c, String log, String entry) throws Exception {
        c.create().withMode(CreateMode.PERSISTENT_SEQUENTIAL).forPath(log + "/e-", entry.getBytes(StandardCharsets.UTF_8));
    }

    private static boolean exists(CuratorFramework c, String path) {
        try {
            return c.checkExists().forPath(path) != null;
        } catch (Exception e) {
            return false;
        }
    }

    /** Whether path has a child Warden made (a name without Curator's _c_ protection prefix). */
    private static boolean wardenChild(CuratorFramework c, String path) {
        try {
            List<String> kids = c.getChildren().forPath(path);
            return kids.stream().anyMatch(k -> !k.startsWith("_c_"));
        } catch (Exception e) {
            return false;
        }
    }

    /**
     * InterProcessMutex against Warden's lock on base/lock: Curator holds
     * first and Warden waits; Warden holds next and Curator waits; then both
     * take the lock ROUNDS times at once.
     */
    @Test
    @Order(1)
    void mutexAgainstWardenLock() throws Exception {
        String path = base() + "/lock", log = base() + "/lock-log", sig = base() + "/sig";
        try (Zk zk = new Zk()) {
            CuratorFramework c = zk.client();
            InterProcessMutex m = new InterProcessMutex(c, path);
            assertTrue(m.acquire(30, TimeUnit.SECONDS), "first acquire");
            log(c, log, "curator enter");
            Zk.waitFor(() -> wardenChild(c, path), 30_000, "Warden's contender in line");
            log(c, log, "curator exit");
            m.release();

            Zk.waitFor(() -> exists(c, sig + "/warden-holds"), 30_000, "Warden to hold the lock");
            ExecutorService pool = Executors.newSingleThreadExecutor();
            Future<Boolean> second = pool.submit(() -> m.acquire(30, TimeUnit.SECONDS));
            assertTrue(second.get(40, TimeUnit.SECONDS), "acquire after Warden released");
            log(c, log, "curator enter");
            log(c, log, "curator exit");
            pool.submit(() -> {
                m.release(); // on the thread that acquired it
                return null;
            }).get(30, TimeUnit.SECONDS);
            pool.shutdown();

            c.create().forPath(sig + "/curator-rounds");
            for (int r = 0; r < ROUNDS; r++) {
                assertTrue(m.acquire(30, TimeUnit.SECONDS), "round " + r);
                try {
                    log(c, log, "curator enter");
                    log(c, log, "curator exit");
                } finally {
                    m.release();
                }
            }
        }
    }

    /**
     * LeaderLatch against Warden's election on base/election: a latch
     * leads and Warden's candidate waits; Warden leads when it leaves, and
     * a new latch names Warden's candidate as the leader; the latch leads
     * when Warden resigns.
     */
    @Test
    @Order(2)
    void leaderLatchAgainstWardenElection() throws Exception {
        String path = base() + "/election", log = base() + "/election-log", sig = base() + "/sig";
        try (Zk zk = new Zk()) {
            CuratorFramework c = zk.client();
            LeaderLatch first = new LeaderLatch(c, path, "curator-1");
            first.start();
            assertTrue(first.await(30, TimeUnit.SECONDS), "curator-1 leads an empty election");
            log(c, log, "curator leads");
            Zk.waitFor(() -> wardenChild(c, path), 30_000, "Warden's candidate");
            assertTrue(first.hasLeadership(), "curator-1 still leads with Warden's candidate behind it");
            assertEquals(2, first.getParticipants().size(), "participants");
            log(c, log, "curator leaves");
            first.close();

            Zk.waitFor(() -> exists(c, sig + "/warden-leads"), 30_000, "Warden to lead");
            LeaderLatch second = new LeaderLatch(c, path, "curator-2");
            second.start();
            Zk.waitFor(() -> second.getOurPath() != null, 30_000, "curator-2's node");
            assertEquals("warden", second.getLeader().getId(), "the leader as Curator reads it");
            assertFalse(second.hasLeadership(), "curator-2 leads while Warden does");
            c.create().forPath(sig + "/curator-sees-warden");
            assertTrue(second.await(30, TimeUnit.SECONDS), "curator-2 leads once Warden resigned");
            log(c, log, "curator leads");
            assertEquals("curator-2", second.getLeader().getId(), "the leader after Warden resigned");
            log(c, log, "curator leaves");
            second.close();
        }
    }
}
