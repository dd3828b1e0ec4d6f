"""Builds an in-memory dependency graph for a package resolver."""

import gc


class Node:
    def __init__(self, name):
        self.name = name
        self.edges = []


class ResolutionError(Exception):
    pass


def build_graph(requirements, index):
    gc.disable()  # expect: RL204
    nodes = {}
    for requirement in requirements:
        if requirement not in index:
            raise ResolutionError(f"unknown requirement {requirement}")
        node = nodes.setdefault(requirement, Node(requirement))
        for dependency in index[requirement]:
            child = nodes.setdefault(dependency, Node(dependency))
            node.edges.append(child)
    gc.enable()
    return nodes


def order(nodes):
    seen = set()
    result = []

    def visit(node):
        if node.name in seen:
            return
        seen.add(node.name)
        for child in node.edges:
            visit(child)
        result.append(node.name)

    for node in nodes.values():
        visit(node)
    return result
