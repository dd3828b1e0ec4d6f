"""Policy-gradient rollouts for a small control task."""

import torch
from torch.distributions import Categorical


def select_action(policy, state):
    logits = policy(torch.as_tensor(state, dtype=torch.float32))
    dist = Categorical(logits=logits)
    action = dist.sample()
    return action.item(), dist.log_prob(action)


def run_episode(env, policy, max_steps=500):
    state = env.reset()
    log_probs = []
    rewards = []
    for _ in range(max_steps):
        action, log_prob = select_action(policy, state)
        log_probs.append(log_prob)
        state, reward, done, _ = env.step(action)
        rewards.append(reward)
        if done:
            break
    return log_probs, rewards


def reinforce(env, policy, optimizer, episodes=100, gamma=0.99):
    episode_losses = []
    value_trace = []
    for episode in range(episodes):
        log_probs, rewards = run_episode(env, policy)
        returns = []
        ret = 0.0
        for reward in reversed(rewards):
            ret = reward + gamma * ret
            returns.insert(0, ret)
        returns = torch.tensor(returns)
        loss = -(torch.stack(log_probs) * returns).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        episode_losses.append(loss.item())
        value_trace.append(policy(torch.zeros(4)).detach())
        if episode % 10 == 0:
            print(f"episode {episode}: return {sum(rewards):.1f}")
    return episode_losses, value_trace
